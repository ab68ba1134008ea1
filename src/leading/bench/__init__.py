r"""``leading bench``: trustworthy cost measurements and the paper's efficiency studies."""
