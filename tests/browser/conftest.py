"""Browser-test set-up: one App and one Chromium per test module.

A module provides a module-scoped ``served_datasets`` fixture returning the
names of the persistent datasets it made (the first one is what the App
opens). ``app`` starts the App on them, ``ui`` gives each test the panel on
a page of one shared browser and saves a screenshot (and the App's log
path) under ``test-artifacts/`` when the test fails. Everything started here
is stopped here.
"""

import os
import pathlib
import shutil
import tempfile

import harness
import pytest

REPO = pathlib.Path(__file__).resolve().parents[2]
ARTIFACTS = REPO / "test-artifacts"


def pytest_configure(config):
    config.addinivalue_line(
        "markers", "browser: drives the real App in headless Chromium"
    )


@pytest.hookimpl(hookwrapper=True)
def pytest_runtest_makereport(item, call):
    outcome = yield
    report = outcome.get_result()
    setattr(item, f"report_{report.when}", report)


def _check_tools():
    if not os.path.exists(harness.CHROMIUM):
        pytest.fail(f"{harness.CHROMIUM} is missing; {harness.INSTALL_HINT}")
    try:
        import playwright.sync_api  # noqa: F401
    except ImportError:
        pytest.fail(f"playwright is not installed; {harness.INSTALL_HINT}")


@pytest.fixture(scope="module")
def app(served_datasets, request):
    """The App serving the module's datasets (stopped after the module)."""
    name = request.module.__name__.rsplit(".", 1)[-1]
    server = harness.AppServer(served_datasets[0], ARTIFACTS / f"{name}-app.log")
    server.start()
    yield server
    server.stop()


@pytest.fixture(scope="module")
def browser(app):
    """One headless Chromium (fresh profile) for the module."""
    _check_tools()
    from playwright.sync_api import sync_playwright

    profile = tempfile.mkdtemp(prefix="data-explorer-chromium-")
    with sync_playwright() as playwright:
        context = harness.launch_browser(playwright, profile, app.url)
        yield context
        context.close()
    shutil.rmtree(profile, ignore_errors=True)


@pytest.fixture(scope="module")
def module_ui(browser, app):
    """One page (and its pop-up state) for the module's tests."""
    page = browser.new_page()
    page.set_default_timeout(30_000)
    return harness.PanelUI(page, app.url)


@pytest.fixture
def ui(module_ui, app, request):
    """The panel on the module's page; a screenshot if the test fails."""
    panel_ui = module_ui
    yield panel_ui
    report = getattr(request.node, "report_call", None)
    if report is not None and report.failed:
        panel_ui.screenshot(ARTIFACTS / f"{request.node.name}.png")
        (ARTIFACTS / f"{request.node.name}.txt").write_text(
            f"{panel_ui.describe()}\n\nApp log: {app.log_path}\n"
        )
