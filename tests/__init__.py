"""pyramid_livehub's tests: ``unit/``, ``integration/``, ``browser/``; helpers in ``support/``."""
