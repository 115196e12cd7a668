"""The ``softgrad`` command line: ``softgrad train | evaluate | predict`` (see ``softgrad.cli.main``)."""


__all__ = []
