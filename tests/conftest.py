"""Shared by every test directory: pytest puts this directory on ``sys.path``, so tests import
the helpers beside it (``jobs``)."""
