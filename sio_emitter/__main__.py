"""``python -m sio_emitter``: the ``sio-emit`` command."""

from .cli import main

if __name__ == "__main__":
    raise SystemExit(main())
