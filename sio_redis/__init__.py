"""Socket.IO cluster adapter over Redis, wire-compatible with Node's @socket.io/redis-adapter."""
