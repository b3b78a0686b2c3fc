"""Leak 1: a lookup path read another rep's record through an object the rep may read.

lan may read every quote line but only her own quotes and opportunities. Before the fix,
`quote_line?filter=quote.opportunity.amount>100000000` listed binh's line, and the sort,
the export, a report grouped by `quote.name` and the default report `won_by_product`
(filtered on `quote.opportunity.stage`) all read through binh's quote. Now a join through
a lookup joins only the target records the user may read: the others read as blank."""

from __future__ import annotations

import csv
import io

from metacrm.engine import query, reports
from metacrm.engine.query import ListQuery


def descriptions(answer) -> list[str]:
    assert answer.status_code == 200, answer.text
    return [item["description"] for item in answer.json()["items"]]


def test_a_filter_through_a_lookup_does_not_reach_a_record_out_of_scope(reps):
    api = reps.api("lan")
    big = descriptions(api.get("/api/v1/quote_line",
                                params={"filter": "quote.opportunity.amount > 100000000"}))
    assert big == []
    named = descriptions(api.get("/api/v1/quote_line",
                                  params={"quote.name": "Báo giá Vạn Phúc"}))
    assert named == []
    # what lan may not read is blank to her; her own deal reads as it is
    blank = descriptions(api.get("/api/v1/quote_line",
                                  params={"quote.opportunity.amount__is_blank": "true"}))
    assert blank == ["Dòng binh"]
    own = descriptions(api.get("/api/v1/quote_line",
                                params={"filter": "quote.opportunity.amount > 1000"}))
    assert own == ["Dòng lan"]
    # binh, who owns the deal, finds it
    assert descriptions(reps.api("binh").get(
        "/api/v1/quote_line",
        params={"filter": "quote.opportunity.amount > 100000000"})) == ["Dòng binh"]


def test_a_sort_through_a_lookup_sorts_out_of_scope_values_as_blank(reps):
    answer = reps.api().get("/api/v1/quote_line", params={"sort": "-quote.opportunity.amount"})
    # descending puts blanks last: binh's 250,000,000 must not come first
    assert descriptions(answer) == ["Dòng lan", "Dòng binh"]


def test_the_export_applies_the_lookup_scope(reps):
    answer = reps.site.get("/o/quote_line/export.csv",
                           params={"filter": "quote.opportunity.amount > 100000000"})
    assert answer.status_code == 200
    rows = list(csv.reader(io.StringIO(answer.content.decode("utf-8-sig"))))
    assert len(rows) == 1, rows  # the header alone
    every = reps.site.get("/o/quote_line/export.csv")
    text = every.content.decode("utf-8-sig")
    assert "Dòng binh" in text and "Dòng lan" in text  # the lines themselves are readable


def test_the_report_builder_grouped_by_a_lookup_path(reps):
    preview = reps.site.post("/reports/preview", {
        "name": "lines_by_quote", "label_en": "Lines by quote", "label_vi": "Dòng theo báo giá",
        "object": "quote_line", "group_1": "quote.name", "measure_1": "count",
        "chart": "bar"})
    assert preview.status_code == 200, preview.text
    assert "Báo giá Hồng Hà" in preview.text
    assert "Báo giá Vạn Phúc" not in preview.text


def test_the_default_won_by_product_report_counts_only_readable_quotes(reps):
    lan = reps.site.ctx("lan")
    result = reports.run(lan, reports.get_report(lan, "won_by_product"))
    assert [(r.keys, r.values) for r in result.rows] == [
        ((reps.product["id"],), (2, 20_000_000))]
    admin = reps.site.ctx("admin")
    everything = reports.run(admin, reports.get_report(admin, "won_by_product"))
    assert [r.values for r in everything.rows] == [(4, 270_000_000)]
    table = reps.site.get("/reports/won_by_product.csv")
    assert table.status_code == 200
    rows = list(csv.reader(io.StringIO(table.content.decode("utf-8-sig"))))
    assert [row[1:] for row in rows[1:]] == [["2", "20000000"]], rows


def test_two_reps_never_share_a_remembered_statement(reps):
    """The statement memo keys on the user when lookups may join own-scoped records."""
    where = query.parse_params(lan := reps.site.ctx("lan"), lan.model.objects["quote_line"],
                               {"filter": "quote.opportunity.amount > 1000"})
    seen_by_lan = query.list_records(lan, "quote_line", ListQuery(where=where))
    binh = reps.site.ctx("binh")
    seen_by_binh = query.list_records(binh, "quote_line", ListQuery(where=where))
    assert [i["description"] for i in seen_by_lan.items] == ["Dòng lan"]
    assert [i["description"] for i in seen_by_binh.items] == ["Dòng binh"]
