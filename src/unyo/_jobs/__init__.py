"""Work over many inputs: business tasks and the batch runner."""
