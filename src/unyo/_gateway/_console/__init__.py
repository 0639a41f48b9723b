"""The web console at /ui: sign-in, chat, usage dashboard, review queue, admin (see `_routes`)."""
