"""Pages of tracking: each module of ``views`` lists its own routes."""

from .views import cohort, dashboard, mydata, person, policy, preferences

urlpatterns = [
    *cohort.urlpatterns,
    *person.urlpatterns,
    *dashboard.urlpatterns,
    *policy.urlpatterns,
    *preferences.urlpatterns,
    *mydata.urlpatterns,
]
