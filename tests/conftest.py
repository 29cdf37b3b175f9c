"""Suite-wide pytest setup.

Loads tests/conformance_plugin.py, which checks ``@pytest.mark.conformance``
testnames against conformance.yaml, records the outcomes of the tagged tests to
``.conformance-results.json`` (scripts/conformance_ledger.py builds
CONFORMANCE.md from it), and turns every skip into a failure when ``CI`` is set.
``pytester`` is there for the plugin's own tests.
"""

pytest_plugins = ["tests.conformance_plugin", "pytester"]
