"""One module per convention or framework family; ``mapping.registry`` lists them in order."""
