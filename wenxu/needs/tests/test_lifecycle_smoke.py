from wenxu.needs import services


def test_full_happy_path_closes_with_reply(world, django_capture_on_commit_callbacks):
    with django_capture_on_commit_callbacks(execute=True):
        need = world.replied()
        need = services.need_callback(
            actor=world.officer,
            need=need,
            version=need.version,
            resolved="yes",
            satisfaction="satisfied",
            channel="phone",
        )
    assert need.status == "closed"
    assert [e.action for e in need.events.order_by("seq")] == [
        "register",
        "assign",
        "accept",
        "reply",
        "callback",
    ]
    assert need.number.startswith("WX-")
