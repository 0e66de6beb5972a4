"""Pages of credentials: each module of ``views`` lists its own routes."""

from .views import public, published

urlpatterns = [*published.urlpatterns, *public.urlpatterns]
