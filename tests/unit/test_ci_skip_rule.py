def test_corpus_fixture_finds_expected_csv(corpus_dir):
    assert (corpus_dir / "pdq-reference" / "expected.csv").is_file()
