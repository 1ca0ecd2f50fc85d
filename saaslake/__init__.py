"""Layer 4, the faces: the ``lakehouse`` command, the whole-pipeline call, notebook helpers.

Thin over the layers below; no business logic lives here.
"""
