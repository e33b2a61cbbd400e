"""pytest's configuration for the tests; the helpers they share are in support.py."""

import signal

import pytest

# Plain asserts in the shared helpers (untag's checksum, for one) report their
# operands as the tests' own do: pytest rewrites only the modules named here,
# and only if they are registered before anything imports them.
pytest.register_assert_rewrite("support")

# The tests expect the dispositions an interpreter started in the foreground
# has. A run started in the background (`cmd &` in a script) inherits SIGINT
# and SIGQUIT ignored, and one under nohup SIGHUP, across exec: CPython then
# installs no KeyboardInterrupt handler, and a child never dies of those.
for _sig, _action in ((signal.SIGINT, signal.default_int_handler), (signal.SIGQUIT, signal.SIG_DFL),
                      (signal.SIGHUP, signal.SIG_DFL)):
    if signal.getsignal(_sig) == signal.SIG_IGN:
        signal.signal(_sig, _action)
