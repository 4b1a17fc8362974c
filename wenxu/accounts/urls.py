from django.contrib.auth import views as auth_views
from django.urls import path

from wenxu.accounts import views

urlpatterns = [
    path(
        "login/",
        auth_views.LoginView.as_view(template_name="accounts/login.html"),
        name="login",
    ),
    path("logout/", auth_views.LogoutView.as_view(), name="logout"),
    path("tokens/", views.token_list, name="account_tokens"),
    path("tokens/<int:pk>/revoke/", views.token_revoke, name="account_token_revoke"),
]
