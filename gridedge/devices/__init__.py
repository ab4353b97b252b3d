"""Device profiles, the inventory, pure decoders and the southbound drivers."""
