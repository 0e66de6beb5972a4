"""Pages of programmes: each module of ``views`` lists its own routes."""

from .views import outcomes, staff, student

urlpatterns = [*student.urlpatterns, *staff.urlpatterns, *outcomes.urlpatterns]
