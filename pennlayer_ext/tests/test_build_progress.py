"""How a build counts its download, from uv's lines and the folders uv unpacks (the real
thing runs in test_builds: a download that stalls on a real index)."""

import time

from pennlayer_ext.core.build_progress import PackageDownloads


def _unpacked(tmp_path, folder, dist_info):
    (tmp_path / folder / dist_info).mkdir(parents=True)
    return tmp_path / folder


def test_names_are_matched_as_the_index_matches_them_and_only_named_ones_count(tmp_path):
    reports = []
    downloads = PackageDownloads(reports.append)
    for line in (
        "DEBUG Identified uncached distribution: scikit-learn==1.9.1",
        "DEBUG Identified uncached distribution: Python_Dateutil==2.9.0.post0",
        "Downloading scikit-learn (8.9MiB)",
    ):
        downloads.uv_line(line)
    downloads.unpacked(
        [
            _unpacked(tmp_path, "a1", "scikit_learn-1.9.1.dist-info"),
            # unpacked while resolving, so not one of the packages to fetch
            _unpacked(tmp_path, "a2", "six-1.17.0.dist-info"),
            tmp_path / "gone",  # moved away since the look: not counted, no error
        ]
    )
    sklearn = int(8.9 * 2**20)
    # scikit-learn is done: no longer coming, its bytes done
    first = {
        "packages_done": 1,
        "packages_total": 2,
        "download_bytes_done": sklearn,
        "download_bytes_total": sklearn,
    }
    assert reports == [first]
    downloads.unpacked([_unpacked(tmp_path, "a3", "python_dateutil-2.9.0.post0.dist-info")])
    assert reports == [first]  # at most one report every half second...
    time.sleep(0.55)
    downloads.unpacked([])
    assert reports[-1] == {**first, "packages_done": 2}  # ...then what it held back


def test_what_reaches_the_log_and_what_is_still_coming():
    reports = []
    downloads = PackageDownloads(reports.append)
    assert downloads.uv_line("DEBUG Identified uncached distribution: numpy==2.4.6") is False
    assert downloads.uv_line("DEBUG Sending fresh GET request for: http://x/y.whl") is False
    assert downloads.uv_line("Resolved 38 packages in 898ms") is True
    assert downloads.uv_line("Downloading numpy (16.1MiB)") is True
    assert downloads.uv_line("Downloading scipy (33.7MiB)") is True
    assert downloads.uv_line("Downloading odd (1..2MiB)") is True  # not a size: not counted
    assert downloads.uv_line(" Downloaded numpy") is True
    downloads.unpacked([])
    numpy, scipy = int(16.1 * 2**20), int(33.7 * 2**20)
    assert reports == [
        {
            "packages_done": 0,
            "packages_total": 1,
            "download_bytes_done": numpy,
            "download_bytes_total": numpy + scipy,
            "downloading": [{"name": "scipy", "bytes": scipy}],
        }
    ]
