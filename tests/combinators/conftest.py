import pytest

import gentf


@pytest.fixture
def eager(request):
    """Run every call eagerly, so that kernel bodies can be counted: yields the test module's
    ``CALLS`` list (its kernel appends to it), emptied."""
    calls = request.module.CALLS
    gentf.set_auto_compile(False)
    calls.clear()
    yield calls
    gentf.set_auto_compile(True)
