"""The plugin as FiftyOne sees it.

Pins: the plugin loads from FIFTYONE_PLUGINS_DIR without errors; the
operators and panels it registers are exactly those its fiftyone.yml lists;
importing the entry point pulls in no heavy library.
"""

import subprocess
import sys

import yaml
from conftest import REPO

PLUGIN = "@data-explorer/data-explorer"


def _manifest():
    return yaml.safe_load((REPO / "fiftyone.yml").read_text())


def test_manifest_names_the_plugin():
    assert _manifest()["name"] == PLUGIN


def test_registered_names_are_exactly_the_manifest():
    import fiftyone.operators.registry as reg
    import fiftyone.plugins as fop

    registry = reg.OperatorRegistry()
    assert registry.list_errors() == []
    assert PLUGIN in [p.name for p in fop.list_plugins()]

    manifest = _manifest()
    listed = set(manifest.get("operators") or []) | set(manifest.get("panels") or [])
    registered = {
        op.uri.split("/")[-1]
        for op in registry.list_operators(builtin=False)
        if op.plugin_name == PLUGIN
    }
    assert listed and registered == listed


def test_entry_point_imports_no_heavy_library():
    code = (
        "import sys, importlib.util;"
        f"spec = importlib.util.spec_from_file_location('p', r'{REPO}/__init__.py',"
        " submodule_search_locations=[]);"
        "m = importlib.util.module_from_spec(spec); sys.modules['p'] = m;"
        "spec.loader.exec_module(m);"
        # fiftyone itself imports scikit-learn, so it is not listed here.
        "heavy = {'torch', 'tensorflow', 'openTSNE', 'umap', 'numba',"
        " 'onnxruntime', 'pywt'};"
        "print(sorted(heavy & set(sys.modules)))"
    )
    out = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, check=True
    )
    assert out.stdout.strip() == "[]"
