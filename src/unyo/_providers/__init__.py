"""Who serves the model and how to talk to it: profiles (and their capabilities), the model
catalogue, token counters, wire shapes, and the bundled local model."""
