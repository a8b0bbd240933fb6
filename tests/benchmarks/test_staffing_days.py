"""The staffing benchmark's target: FoodMatch's on-time rate counted back from its published share."""

from benchmarks.staffing_days import foodmatch_target


def test_the_target_is_foodmatch_s_own_count_not_the_rounded_complement():
    """0.2438 of 242 delivered is 59 orders over 40 minutes: the target is 183 / 242 (0.756198),
    which a schedule with FoodMatch's very count meets, where 1 - 0.2438 = 0.7562 asked for more."""
    target = foodmatch_target({"delivered": 242, "share_ctd_over_target_of_delivered": 0.2438})
    assert target == 183 / 242 and target < round(1 - 0.2438, 4)
    assert foodmatch_target({"delivered": 505, "share_ctd_over_target_of_delivered": 0.2198}) == 394 / 505
