from django.urls import path

from apps.billing.api import views

app_name = "billing"

urlpatterns = [
    path("plans/", views.PlanViewSet.as_view({"get": "list"}), name="plan-list"),
    path("subscription/", views.SubscriptionView.as_view(), name="subscription-detail"),
    path("subscription/change/", views.SubscriptionChangeView.as_view(), name="subscription-change"),
    path("checkout/", views.CheckoutView.as_view(), name="checkout"),
    path("portal-link/", views.PortalLinkView.as_view(), name="portal-link"),
    path("usage/", views.UsageView.as_view(), name="usage-detail"),
    path("invoices/", views.InvoiceViewSet.as_view({"get": "list"}), name="invoice-list"),
    path("webhooks/stripe/", views.StripeWebhookView.as_view(), name="webhook-stripe"),
]
