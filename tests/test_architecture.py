"""The import graph of `app` (grimp, from the source): no loops, and every import runs
downwards through the layers the package docstrings describe (README.md#layout)."""

import grimp
import pytest
from grimp import Layer

# Top to bottom: a module may import only from the layers below its own. Modules in one
# layer may import each other (not independent), but the graph must stay free of loops.
LAYERS = [
    "app.main",
    Layer("app.api", "app.admin", "app.worker", independent=False),
    Layer(
        "app.deps",
        "app.openapi_responses",
        "app.account_emails",
        "app.upload",
        "app.docs_ui",
        "app.webapp",
        "app.openapi",
        "app.session_cookie",
        independent=False,
    ),
    Layer("app.crud", "app.throttle", "app.events", independent=False),
    "app.pipeline",
    "app.webhooks",
    Layer(
        "app.fetch",
        "app.mail",
        "app.announce",
        "app.idempotency",
        "app.retention",
        "app.credits",
        "app.pages",
        "app.playback",
        "app.search",
        "app.ai",
        "app.captions",
        "app.body_limit",
        independent=False,
    ),
    Layer("app.storage", "app.db", "app.reads", "app.scratch", independent=False),
    "app.models",
    "app.security",
    "app.config",
]

# Inside a package, top to bottom.
PACKAGE_LAYERS = {
    "app.pipeline": ["worker", "kinds", "context", Layer("jobs", "queue", "media")],
    "app.webhooks": ["delivery", "outbox", "signing"],
    "app.storage": ["factory", Layer("local", "s3"), "base"],
}


@pytest.fixture(scope="module")
def graph() -> grimp.ImportGraph:
    return grimp.build_graph("app", cache_dir=None)


def _direct_imports(graph: grimp.ImportGraph) -> dict[str, set[str]]:
    return {
        module: {m for m in graph.find_modules_directly_imported_by(module) if m.startswith("app")}
        for module in graph.modules
    }


def test_there_are_no_import_loops(graph):
    edges = _direct_imports(graph)
    loops = []
    for module in sorted(edges):
        for imported in sorted(edges[module]):
            chain = graph.find_shortest_chain(importer=imported, imported=module)
            if chain:
                loops.append((module, *chain))
    assert loops == []


def test_every_import_runs_down_the_layers(graph):
    illegal = graph.find_illegal_dependencies_for_layers(layers=LAYERS)
    assert {(d.importer, d.imported) for d in illegal} == set()


@pytest.mark.parametrize("package", sorted(PACKAGE_LAYERS))
def test_inside_each_package_imports_run_down_its_layers(graph, package):
    layers = PACKAGE_LAYERS[package]
    illegal = graph.find_illegal_dependencies_for_layers(layers=layers, containers={package})
    assert {(d.importer, d.imported) for d in illegal} == set()


def test_every_module_of_app_is_in_a_layer(graph):
    """A new module must be placed in LAYERS, so the check above covers it."""
    named = set()
    for layer in LAYERS:
        named |= set(layer.module_tails) if isinstance(layer, Layer) else {layer}
    top = {m for m in graph.modules if m.count(".") == 1}
    assert top - named == set()


def test_the_ai_providers_know_nothing_of_the_app_but_its_settings(graph):
    """app/ai/__init__.py: providers import app.config and third-party libraries only."""
    outside = {
        (module, imported)
        for module, imports in _direct_imports(graph).items()
        if module.startswith("app.ai")
        for imported in imports
        if not imported.startswith("app.ai") and imported != "app.config"
    }
    assert outside == set()


def test_every_package_says_what_it_holds_and_what_it_may_import():
    import importlib

    for name in ("app.ai", "app.pipeline", "app.pipeline.kinds", "app.storage", "app.webhooks"):
        doc = importlib.import_module(name).__doc__ or ""
        assert "Holds" in doc or "holds" in doc or "registry" in doc, name
        assert "import" in doc, name
