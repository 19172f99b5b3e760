"""The demo of scripts/run.sh: its welcome notebook opens unmodified.

scripts/demo-notebook.py fills a freshly copied welcome notebook with the metadata that
JupyterLab and pennlayer write when its kernel starts; if any of it differed from what
a real kernel reports, the notebook would open marked as changed.
"""

import json
import os
import subprocess
import sys
from pathlib import Path

SCRIPTS = Path(__file__).resolve().parents[2] / "scripts"


async def test_the_welcome_notebook_records_what_its_kernel_reports(
    env_and_layers, start_kernel, jp_root_dir, jp_fetch, pl_api, pl_store
):
    # Given the welcome notebook, running in the environment 'sci' with 'genome' mounted
    notebook = json.loads((SCRIPTS / "demo-workspace" / "welcome.ipynb").read_text())
    notebook["metadata"]["kernelspec"]["name"] = "pennlayer-sci"
    notebook["metadata"]["pennlayer"] = {"environment": "sci", "layers": ["genome"]}
    path = jp_root_dir / "welcome.ipynb"
    path.write_text(json.dumps(notebook))

    # When the demo fills in its metadata from the node, as scripts/run.sh does
    subprocess.run(
        [sys.executable, SCRIPTS / "demo-notebook.py", path],
        env=dict(
            os.environ,
            PENNLAYER_STORE=str(pl_store),
            JUPYTER_CONFIG_DIR=str(pl_store) + "-cfg",
        ),
        check=True,
        timeout=120,
    )
    filled = json.loads(path.read_text())["metadata"]

    # Then the notebook's kernel reports exactly that: its language, its kernelspec's
    # name on screen, and the versions it mounted
    kernel = await start_kernel("welcome.ipynb")
    reply = await kernel.client.kernel_info(reply=True, timeout=60)
    assert filled["language_info"] == reply["content"]["language_info"]
    specs = json.loads((await jp_fetch("api", "kernelspecs")).body)["kernelspecs"]
    assert filled["kernelspec"] == {
        "name": "pennlayer-sci",
        "display_name": specs["pennlayer-sci"]["spec"]["display_name"],
        "language": "python",
    }
    session = (await pl_api("sessions", kernel.id)).body
    assert filled["pennlayer"]["mounted"] == session["notebook_metadata"]["mounted"]
    assert set(filled["pennlayer"]["mounted"]) == {"sci", "genome"}
    # and the cells are as they were
    assert json.loads(path.read_text())["cells"] == notebook["cells"]
