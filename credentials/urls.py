"""Pages of credentials: each module of ``views`` lists its own routes."""

from .views import downloads, public, published, staff, wallet

urlpatterns = [
    *staff.urlpatterns,
    *published.urlpatterns,
    *public.urlpatterns,
    *downloads.urlpatterns,
    *wallet.urlpatterns,
]
