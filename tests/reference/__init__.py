"""Independent, standard-library-only reference implementations used as test oracles."""
