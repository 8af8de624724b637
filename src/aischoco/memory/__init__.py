"""Long-term viewer memory: who is who, what they said, what is true about them."""
