"""A runnable demo of a mixed Python + Node Socket.IO cluster over Redis.

``python -m sio_redis.demo`` (or ``bash scripts/demo.sh``) starts a Redis, two Python
servers (``AsyncRedisManager`` on aiohttp), a Node server when Node and
``tests/node/node_modules`` are there, and a clock ticker (``sio_emitter.AsyncEmitter``),
then prints the URL of each server's chat page. ``python -m sio_redis.demo --help`` lists
the options; ``server`` and ``ticker`` run one member on its own (as docker-compose.yml does).
"""
