"""``python -m sloctl.loadtest._locust_main ARGS``: Locust's own command line (``python -m
locust ARGS``) with sloctl's hooks (:mod:`sloctl.loadtest.locustlib`) loaded first, whatever the
scenario imports: a Locust file of one's own, written for plain ``locust``, is then bounded,
checked against the allow-list and writes the results the gates read. A scenario that imports
the hooks too loads them once.

Not importable outside Locust's process (it imports Locust, which patches the standard library).
"""

from locust.main import main

import sloctl.loadtest.locustlib  # noqa: F401  the hooks register on import

if __name__ == "__main__":
    main()  # type: ignore[no-untyped-call]  # Locust ships it without hints
