"""Runs the `hsds` command (HSDS 1.0.2's launcher, same arguments) with a longer start-up allowance.

HsdsApp gives its service and data node processes 10 s to create their sockets and fails otherwise; on a
loaded 2-core machine five Python processes importing numpy and aiohttp can take longer than that, and the
interop suite then fails for no fault of either server. This wrapper slows the clock HsdsApp reads for that
wait (and for its stop wait), so the allowance becomes 60 s; nothing else changes.
Usage: python tests/interop/hsds_patient.py --root_dir ... (exactly the `hsds` command's arguments)
"""
import sys
import time

import hsds.hsds_app
from hsds.app import main

SLOWER = 6  # 10 s of HsdsApp's start-up allowance become 60 s
_t0 = time.time()
hsds.hsds_app.getNow = lambda: _t0 + (time.time() - _t0) / SLOWER

if __name__ == "__main__":
    sys.argv[0] = "hsds"
    sys.exit(main())
