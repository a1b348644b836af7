from django.urls import path

from benchmarks.controls import views

urlpatterns = [
    path("bare/", views.bare, name="bench-bare"),
    path("stock/", views.StockAuditListView.as_view(), name="bench-stock"),
]
