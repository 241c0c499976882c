"""Pictures of where the model looked: overlays, strips, animations, and the HTML report."""
