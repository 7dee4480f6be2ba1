"""The report's transcript browser with 10,000 transcripts, clicked through in headless Chromium:
a rate's link opens exactly the transcripts behind it, filters and search narrow them, and a
transcript opens with every model's reply to the same query side by side."""

import pytest

from a3.report.browser import SCRIPT, STYLE, browser_block
from a3.report.page import Section, Table, sections_html
from a3.report.transcripts import Reply, Transcripts
from a3.testing.transcripts import synthetic_transcripts
from tests.helpers.chromium import chromium_page


def expected(data: Transcripts, subject: str = "", split: str = "", kind: str = "", verdict: str = "") -> int:
    def verdict_of(reply: Reply) -> str:
        return "error" if reply.verdict.status != "ok" else "flagged" if reply.verdict.flagged else "not flagged"

    return sum(
        1
        for r in data.replies
        if (not subject or f"{data.subjects[r.subject].method}: {data.subjects[r.subject].name}" == subject)
        and (not split or data.split_of[r.query_id] == split)
        and (not kind or data.queries[r.query_id].kind == kind)
        and (not verdict or verdict_of(r) == verdict)
    )


@pytest.fixture(scope="module")
def page_file(tmp_path_factory):
    data = synthetic_transcripts()
    link = {"subject": "A3: iteration 3", "split": "validation", "kind": "harmful"}
    table = Table(["model", "val SFR"], [["iteration 3", "12% (15/125)"]], links={(0, 1): link})
    html = sections_html(
        "browser",
        [Section("Comparison", tables=(table,)), Section("Transcripts", html_block=browser_block(data))],
        script=SCRIPT,
        style=STYLE,
    )
    path = tmp_path_factory.mktemp("page") / "report.html"
    path.write_text(html, encoding="utf-8")
    return path, data


def test_ten_thousand_transcripts_in_one_page_of_a_few_megabytes(page_file):
    path, data = page_file
    assert len(data.replies) == 10_000
    assert path.stat().st_size < 12_000_000  # queries stored once, replies point at them


def test_a_rate_opens_its_transcripts_and_each_filter_narrows_them(page_file):
    path, data = page_file
    with chromium_page(path) as page:
        assert page.inner_text("#tx-count") == "10000 of 10000 transcripts, 50 shown"
        assert page.locator("#tx-list li").count() == 50

        page.locator("#comparison a.drill").click()
        behind = expected(data, "A3: iteration 3", "validation", "harmful")
        assert behind > 0
        assert page.inner_text("#tx-count").startswith(f"{behind} of 10000")
        tags = page.locator("#tx-list li").nth(0).inner_text()
        assert "A3: iteration 3" in tags and "harmful · validation" in tags

        page.select_option("select[data-key=verdict]", "flagged")
        assert page.inner_text("#tx-count").startswith(
            f"{expected(data, 'A3: iteration 3', 'validation', 'harmful', 'flagged')} of"
        )

        page.click("#tx-clear")
        page.select_option("select[data-key=split]", "ood")
        page.click("#tx-more")
        assert page.locator("#tx-list li").count() == 100
        assert page.inner_text("#tx-count") == f"{expected(data, split='ood')} of 10000 transcripts, 100 shown"

        page.fill("input[data-key=text]", "request number 123:")
        assert page.inner_text("#tx-count").startswith("0 of 10000")  # query 123 is a validation query
        page.select_option("select[data-key=split]", "")
        assert page.inner_text("#tx-count").startswith("10 of 10000")  # one query, answered by ten models


def test_a_transcript_opens_beside_every_models_reply_to_the_same_query(page_file):
    path, data = page_file
    with chromium_page(path) as page:
        page.select_option("select[data-key=subject]", "A3: iteration 5")
        page.locator("#tx-list li").nth(3).click()
        replies = page.locator("#tx-detail .tx-reply")
        assert replies.count() == len(data.subjects)
        current = page.locator("#tx-detail .tx-reply.current")
        assert current.count() == 1 and "A3: iteration 5" in current.inner_text()
        assert "base: base model" in replies.nth(0).inner_text()  # the base model first, to compare with
        query_id = page.inner_text("#tx-detail h3").split(" ")[0]
        assert "user: " + data.queries[query_id].messages[-1].content[:40] in page.inner_text("#tx-detail")


def test_html_in_a_reply_is_shown_as_text_and_cannot_break_the_page(tmp_path):
    hostile = "<!--<script>document.title='owned'</script> </script><b>bold?</b>"
    data = synthetic_transcripts(2)
    data.replies[0] = Reply(
        data.replies[0].query_id,
        0,
        data.replies[0].response.model_copy(update={"text": hostile}),
        data.replies[0].verdict,
    )
    path = tmp_path / "report.html"
    path.write_text(
        sections_html("browser", [Section("Transcripts", html_block=browser_block(data))], script=SCRIPT, style=STYLE)
    )
    with chromium_page(path) as page:
        assert page.inner_text("#tx-count") == f"{len(data.replies)} of {len(data.replies)} transcripts"
        page.locator("#tx-list li").first.click()
        assert hostile in page.inner_text("#tx-detail") and page.title() == "browser"
