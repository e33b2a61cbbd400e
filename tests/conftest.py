"""pytest's configuration for the tests; the helpers they share are in support.py."""

import pytest

# Plain asserts in the shared helpers (untag's checksum, for one) report their
# operands as the tests' own do: pytest rewrites only the modules named here,
# and only if they are registered before anything imports them.
pytest.register_assert_rewrite("support")
