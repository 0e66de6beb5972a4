"""Learning outcomes and mastery (issue 11, item 4): ``mastery`` (pure: evidence -> mastery
under Canvas's calculation methods), ``esco`` (the ESCO skills list), ``services`` (writes)
and ``selectors`` (outcome trees and mastery, scoped to the acting user)."""
