"""The runner every client suite ends with: all its tests (or those named
on the command line), verbose, then one `<label>: N passed, M failed` line
that scripts/client-tests.sh adds up."""

import logging
import sys
import unittest


def run(module_name, label, versions, result_class=unittest.TextTestResult):
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(name)s %(levelname)s %(message)s")
    # kafka-python logs every reconnect and refusal: its errors only.
    logging.getLogger("kafka").setLevel(logging.CRITICAL)
    print(versions, flush=True)
    module = sys.modules[module_name]
    names = [a for a in sys.argv[1:] if a not in ("-v", "--verbose")]
    loader = unittest.TestLoader()
    suite = loader.loadTestsFromNames(names, module) if names else loader.loadTestsFromModule(module)
    result = unittest.TextTestRunner(verbosity=2, stream=sys.stdout, resultclass=result_class).run(suite)
    failed = len(result.failures) + len(result.errors) + len(result.unexpectedSuccesses)
    passed = result.testsRun - failed - len(result.skipped)
    print(f"{label}: {passed} passed, {failed} failed", flush=True)
    return 0 if failed == 0 and result.testsRun > 0 else 1
