"""Runnable examples (``python -m examples.emit_script``, ``celery -A examples.celery_app``)."""
