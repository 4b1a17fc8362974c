from django.contrib.auth import views as auth_views
from django.urls import path

from wenxu.accounts import login_views, views

urlpatterns = [
    path("login/", login_views.SignInView.as_view(), name="login"),
    path("logout/", auth_views.LogoutView.as_view(), name="logout"),
    path("otp/", login_views.otp_verify, name="account_otp"),
    path("otp/setup/", login_views.otp_setup, name="account_otp_setup"),
    path("password/", login_views.password_change, name="account_password"),
    path("tokens/", views.token_list, name="account_tokens"),
    path("tokens/<int:pk>/revoke/", views.token_revoke, name="account_token_revoke"),
]
