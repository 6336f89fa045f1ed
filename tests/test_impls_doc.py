"""docs/implementations.md is generated (cebench impls --write-doc) from the
implementations' declarations and the verdicts stored under results/: it must not drift."""

from cebench.publish import implementations


def test_the_committed_doc_is_what_the_generator_writes():
    committed = implementations.DOC_PATH.read_text(encoding="utf-8")
    assert committed == implementations.render_doc(), (
        "docs/implementations.md is stale: run `cebench impls --write-doc`")


def test_the_doc_holds_every_implementation_and_the_stored_matrix():
    text = implementations.render_doc()
    for name in ("eager", "compile", "liger", "quack", "by_hand"):
        assert f"**`{name}`**" in text
    assert "## Support × conformance" in text
    assert "| rule |" in text and "| inputs_unchanged |" in text
