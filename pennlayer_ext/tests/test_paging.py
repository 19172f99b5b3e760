"""The paged layer list: filters, search, sort and pages, done by the server.

Through a real Jupyter server with pennlayer, on a store seeded with layers through the
core's catalog (tests/seed.py). Every order is checked against Python sorting the
unpaged list by the same rule, and every page walk against the whole list.
"""

import pytest

from pennlayer_ext.core.errors import InvalidInput
from pennlayer_ext.core.listing import SORT_KEYS

from .seed import seed_layers

LAYERS = 130


@pytest.fixture
def seeded(pl_store):
    names = seed_layers(pl_store, LAYERS)
    return names


def expected_order(layers, sort, descending):
    """The contract's order: by *sort*, NULLs last in both orders, ties by name ascending."""
    present = [layer for layer in layers if layer[sort] is not None]
    absent = [layer for layer in layers if layer[sort] is None]
    present.sort(key=lambda layer: layer["name"])
    present.sort(key=lambda layer: layer[sort], reverse=descending)
    absent.sort(key=lambda layer: layer["name"])
    return [layer["name"] for layer in present + absent]


async def walk(pl_api, limit, **params):
    """Every page from offset 0 until next_offset is null; the names in order."""
    names, offset, pages = [], 0, 0
    while offset is not None:
        page = await pl_api("layers", params={**params, "limit": limit, "offset": offset})
        assert page.status == 200, page.body
        assert page.body["limit"] == limit
        assert page.body["offset"] == offset
        assert len(page.body["layers"]) <= limit
        names += [layer["name"] for layer in page.body["layers"]]
        offset = page.body["next_offset"]
        pages += 1
        assert pages <= LAYERS
    return names


async def test_no_limit_answers_every_layer_as_before_with_the_new_fields(pl_api, seeded):
    listed = await pl_api("layers")
    assert listed.status == 200
    assert [layer["name"] for layer in listed.body["layers"]] == sorted(seeded)
    assert listed.body["count"] == LAYERS
    assert (listed.body["offset"], listed.body["limit"], listed.body["next_offset"]) == (
        0,
        None,
        None,
    )
    assert listed.body["totals"]["layer_count"] == LAYERS


async def test_pages_walk_the_whole_list_once_in_order(pl_api, seeded):
    whole = [layer["name"] for layer in (await pl_api("layers")).body["layers"]]
    first = await pl_api("layers", params={"limit": 50})
    assert [layer["name"] for layer in first.body["layers"]] == whole[:50]
    assert first.body["count"] == LAYERS
    assert first.body["next_offset"] == 50
    # The totals are the whole node's, whatever the page.
    assert first.body["totals"] == (await pl_api("layers")).body["totals"]
    assert await walk(pl_api, 50) == whole
    assert await walk(pl_api, 7, sort="size_bytes", order="desc") == expected_order(
        (await pl_api("layers")).body["layers"], "size_bytes", True
    )
    past = await pl_api("layers", params={"limit": 10, "offset": LAYERS + 5})
    assert past.body["layers"] == []
    assert past.body["next_offset"] is None
    assert past.body["count"] == LAYERS


@pytest.mark.parametrize("sort", SORT_KEYS)
@pytest.mark.parametrize("order", ["asc", "desc"])
async def test_every_sort_key_orders_as_the_contract_says(pl_api, seeded, sort, order):
    every = (await pl_api("layers")).body["layers"]
    expected = expected_order(every, sort, order == "desc")
    sorted_whole = await pl_api("layers", params={"sort": sort, "order": order})
    assert [layer["name"] for layer in sorted_whole.body["layers"]] == expected
    assert await walk(pl_api, 40, sort=sort, order=order) == expected
    if sort == "last_accessed_at":  # the seed leaves two in three never mounted
        assert sorted_whole.body["layers"][-1]["last_accessed_at"] is None
        assert sorted_whole.body["layers"][0]["last_accessed_at"] is not None


async def test_search_filters_and_pages_combine(pl_api, pl_manager, seeded):
    pl_manager.create_layer("zebra-atlas", "reference", description="Zébrafish Ünïcode atlas")
    pl_manager.create_layer("pct-data", "reference", description="100% of it, a_b")
    every = (await pl_api("layers")).body["layers"]

    def matching(text, **filters):
        return [
            layer["name"]
            for layer in every
            if (
                text.casefold() in layer["name"].casefold()
                or text.casefold() in layer["description"].casefold()
            )
            and all(layer[key] == value for key, value in filters.items())
        ]

    cases = [
        ({"q": "MOUSE"}, matching("mouse")),
        ({"q": "ref-0001"}, matching("ref-0001")),
        ({"q": "zÉBRAFISH"}, ["zebra-atlas"]),  # folded beyond ASCII
        ({"q": "ÜNÏ"}, ["zebra-atlas"]),
        ({"q": "%"}, ["pct-data"]),  # LIKE's wildcards are plain characters
        ({"q": "a_b"}, ["pct-data"]),
        ({"q": "_"}, ["pct-data"]),
        ({"q": "nothing matches this"}, []),
        ({"status": "EMPTY"}, matching("", status="EMPTY")),
        ({"q": "yeast", "status": "READY"}, matching("yeast", status="READY")),
        ({"kind": "environment"}, []),
    ]
    for params, names in cases:
        listed = await pl_api("layers", params={**params, "limit": 10})
        assert listed.status == 200, (params, listed.body)
        assert listed.body["count"] == len(names), params
        assert [layer["name"] for layer in listed.body["layers"]] == names[:10], params
        assert listed.body["next_offset"] == (10 if len(names) > 10 else None), params
        assert await walk(pl_api, 10, **params) == names, params
        assert listed.body["totals"]["layer_count"] == LAYERS + 2


@pytest.mark.parametrize(
    ("params", "words"),
    [
        ({"limit": "0"}, ["limit", "1 to 1000", "'0'"]),
        ({"limit": "1001"}, ["limit", "1 to 1000"]),
        ({"limit": "abc"}, ["limit", "'abc'"]),
        ({"limit": "-1"}, ["limit"]),
        ({"limit": "1.5"}, ["limit"]),
        ({"limit": ""}, ["limit"]),
        ({"offset": "-1"}, ["offset", "0 or more"]),
        ({"offset": "x"}, ["offset"]),
        ({"offset": str(2**53)}, ["offset"]),
        ({"offset": "9" * 40}, ["offset"]),
        ({"sort": "bogus"}, ["sort", "name", "monthly_cost_usd"]),
        ({"sort": "NAME"}, ["sort"]),
        ({"order": "up"}, ["order", "asc, desc"]),
        ({"q": "x" * 201}, ["q", "201", "200"]),
        ({"kind": "dataset"}, ["kind"]),
    ],
)
async def test_bad_parameters_are_400_naming_the_parameter(pl_api, seeded, params, words):
    answer = await pl_api("layers", params=params)
    assert answer.status == 400, answer.body
    assert answer.body["error"] == "invalid_input"
    message = answer.body["message"]
    assert "\n" not in message
    for word in words:
        assert word in message, (word, message)


async def test_the_limits_themselves_are_accepted(pl_api, seeded):
    for params in ({"limit": "1"}, {"limit": "1000"}, {"offset": str(2**53 - 1), "limit": "5"}):
        answer = await pl_api("layers", params=params)
        assert answer.status == 200, (params, answer.body)
    assert len((await pl_api("layers", params={"limit": "1000"})).body["layers"]) == LAYERS
    assert (await pl_api("layers", params={"q": "x" * 200})).body["count"] == 0


def test_the_manager_takes_the_same_parameters_and_gives_the_same_messages(pl_manager):
    seed_layers(pl_manager.store.root, 12)
    page = pl_manager.list_layers(limit=5, offset=10, sort="file_count", order="desc")
    assert page["count"] == 12
    assert len(page["layers"]) == 2
    assert page["next_offset"] is None
    # (tornado drops control characters from query arguments; a command line has them)
    for bad in (
        {"limit": 0},
        {"limit": True},
        {"offset": -3},
        {"sort": 3},
        {"q": 5},
        {"q": "a\x00b"},
        {"q": "\x1b[2J"},
    ):
        with pytest.raises(InvalidInput):
            pl_manager.list_layers(**bad)


async def test_layer_changes_answer_what_changed_since_a_cursor(pl_api, pl_manager, seeded):
    """The route a person's server polls on a node service instead of the whole list."""
    first = await pl_api("layer-changes")
    assert first.status == 200, first.body
    assert first.body["complete"] is True
    assert sorted(layer["name"] for layer in first.body["layers"]) == sorted(seeded)
    cursor = first.body["cursor"]

    quiet = await pl_api("layer-changes", params={"cursor": cursor})
    assert (quiet.body["complete"], quiet.body["layers"], quiet.body["deleted"]) == (
        False,
        [],
        [],
    )

    pl_manager.create_layer("fresh-one", "reference")
    pl_manager.delete_layer(seeded[0])
    changed = await pl_api("layer-changes", params={"cursor": cursor})
    assert changed.body["complete"] is False
    assert [layer["name"] for layer in changed.body["layers"]] == ["fresh-one"]
    assert changed.body["layers"][0]["status"] == "EMPTY"
    assert changed.body["deleted"] == [seeded[0]]
    assert changed.body["cursor"] > cursor

    for bad in ("-1", "abc", "1.5", "9" * 30, "١٢"):
        answer = await pl_api("layer-changes", params={"cursor": bad})
        assert answer.status == 400, bad
        assert answer.body["message"].startswith("cursor must be the cursor of a former answer")
