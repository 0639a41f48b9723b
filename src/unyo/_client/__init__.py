"""The drop-in `OpenAI` / `AsyncOpenAI`, the map of the SDK's surface, and the one place the
default pipeline is assembled."""
