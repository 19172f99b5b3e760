"""Every pennlayer route asks the server's authorizer for the 'pennlayer' resource."""

import pytest
from jupyter_server.auth.authorizer import Authorizer
from traitlets import Unicode

from .test_auth import ROUTES, SAMPLE_PATHS


class DenyPennlayer(Authorizer):
    """Allows everything except the pennlayer resource (optionally only writes)."""

    denied_action = Unicode("", config=True)

    def is_authorized(self, handler, user, action, resource):
        if resource != "pennlayer":
            return True
        return bool(self.denied_action) and action != self.denied_action


@pytest.fixture
def pl_extra_config(request):
    return {
        "ServerApp": {"authorizer_class": DenyPennlayer},
        "DenyPennlayer": {"denied_action": getattr(request, "param", "")},
    }


@pytest.mark.parametrize(("pattern", "method"), ROUTES)
async def test_every_route_asks_the_authorizer(pl_api, pattern, method):
    body = b"{}" if method in {"POST", "PATCH", "PUT"} else None
    response = await pl_api(SAMPLE_PATHS[pattern], method=method, body=body)
    assert response.status == 403, (pattern, method)


@pytest.mark.parametrize("pl_extra_config", ["write"], indirect=True)
async def test_read_only_users_can_list_but_not_create(pl_api, pl_manager, pl_extra_config):
    assert (await pl_api("layers")).status == 200
    created = await pl_api("layers", method="POST", json_body={"name": "x", "kind": "reference"})
    assert created.status == 403
    assert pl_manager.list_layers()["layers"] == []
