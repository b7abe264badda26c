"""Developer tools run by hand (never by the product or the tests' data): the generators of the
anonymizer's rule tables from reference files, and the digests that pin what they generated."""
