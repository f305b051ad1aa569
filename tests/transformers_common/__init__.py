"""transformers' common model tests (`ModelTesterMixin`) run against every model class of the package.

`sdist.py` fetches the test files of the installed transformers release; `deviations.py` lists the only common tests
allowed to skip (the README's deviation list); each `test_modeling_*.py` here holds a tiny model tester per class,
as transformers' own `tests/models/*/test_modeling_*.py` do.
"""
