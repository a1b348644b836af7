"""Identity: users, tenants, portals, memberships, roles, invitations and audit.

Global tables (no tenant wall) hold what belongs to a user or the platform, or
is looked up before the tenant is known: users, tenants, portals, the
permission catalogue, invitation token lookups, the platform audit stream and
the audit chain heads. Everything a tenant owns inherits `TenantScopedModel`.
Roles are the one mixed table: system roles have no tenant, custom roles
belong to one.
"""

from __future__ import annotations

import unicodedata
from typing import Any, ClassVar, Final

from django.contrib.auth.base_user import AbstractBaseUser, BaseUserManager
from django.db import models
from django.db.models import Q
from django.db.models.functions import Lower, Upper

from apps.common.models import BaseModel, TenantScopedModel
from apps.common.tenancy import current_tenant, is_unscoped, require_tenant

SYSTEM_ROLE_CODES = ("owner", "admin", "member")


def canonical_email(email: str) -> str:
    """The one form of an address that lookup, registration, lockout and throttles all use.

    NFKC folds compatibility characters into their plain letters (the Kelvin
    sign K into K, the long s U+017F into s), surrounding blanks go, and the domain is
    lower-cased. Case in the local part is left to the lookup, which compares
    case-insensitively (`email__iexact`), so `Admin`, `ADMIN` and `admin` reach
    one account wherever the database folds them together.
    """
    email = unicodedata.normalize("NFKC", email or "").strip()
    local, at, domain = email.rpartition("@")
    return f"{local}@{domain.lower()}" if at else email


class UserManager(BaseUserManager["User"]):
    use_in_migrations = True

    @classmethod
    def normalize_email(cls, email: str | None) -> str:
        return canonical_email(email or "")

    def by_email(self, email: str) -> models.QuerySet[User]:
        """The account an address names, whatever case or compatibility form it is typed in."""
        return self.filter(email__iexact=canonical_email(email))

    def get_by_natural_key(self, username: str | None) -> User:
        return self.by_email(username or "").get()

    def create_user(self, email: str, password: str | None = None, **extra: Any) -> User:
        if not email:
            raise ValueError("An e-mail address is required.")
        user = self.model(email=self.normalize_email(email), **extra)
        if password:
            user.set_password(password)
        else:
            user.set_unusable_password()
        user.save(using=self._db)
        return user


class User(AbstractBaseUser, BaseModel):
    """A person. Logs in with a case-insensitive e-mail; may belong to many tenants."""

    # unique=True satisfies Django's check; the Lower() constraint makes it case-insensitive.
    email = models.EmailField(max_length=254, unique=True)
    name = models.CharField(max_length=150, blank=True)
    email_verified = models.BooleanField(default=False)
    is_active = models.BooleanField(default=True)

    USERNAME_FIELD = "email"
    EMAIL_FIELD = "email"
    REQUIRED_FIELDS: ClassVar[list[str]] = []

    objects = UserManager()

    class Meta:
        default_permissions = ()
        constraints: ClassVar = [models.UniqueConstraint(Lower("email"), name="identity_user_email_ci_unique")]
        # What `email__iexact` (`by_email`: sign-in, resets, sign-up, invitations) compares: without it,
        # each lookup read the whole table. Lower() above cannot serve it: it folds case the other way.
        indexes: ClassVar = [models.Index(Upper("email"), name="identity_user_email_upper")]

    def __str__(self) -> str:
        return self.email


class Tenant(BaseModel):
    """A customer of the platform. Global: resolved before any tenant context exists."""

    class Status(models.TextChoices):
        ACTIVE = "active"
        SUSPENDED = "suspended"
        OFFBOARDED = "offboarded"

    class Tier(models.TextChoices):
        POOLED = "pooled"
        SILO = "silo"

    slug = models.SlugField(max_length=63, unique=True)
    name = models.CharField(max_length=200)
    status = models.CharField(max_length=16, choices=Status.choices, default=Status.ACTIVE)
    tier = models.CharField(max_length=16, choices=Tier.choices, default=Tier.POOLED)
    region = models.CharField(max_length=32, default="eu-west-1")
    # Billing owns the catalogue and the transitions; the tenant row mirrors them.
    plan_code = models.CharField(max_length=32, default="free")
    subscription_status = models.CharField(max_length=16, default="active")

    class Meta:
        default_permissions = ()

    def __str__(self) -> str:
        return self.slug

    @property
    def is_active(self) -> bool:
        return self.status == self.Status.ACTIVE


def _default_admitted_roles() -> list[str]:
    return list(SYSTEM_ROLE_CODES)


# A portal's theme when nothing is set: the one definition (models, API output, service defaults).
DEFAULT_THEME: Final = {"primary_color": "#3b5bdb", "logo_url": ""}


def _default_theme() -> dict[str, str]:
    return dict(DEFAULT_THEME)


class Portal(BaseModel):
    """A branded entry point of a tenant at /portal/<slug>/. Global: resolved from the URL."""

    class SignupPolicy(models.TextChoices):
        CLOSED = "closed"
        INVITE = "invite"
        OPEN = "open"

    tenant = models.ForeignKey(Tenant, on_delete=models.CASCADE, related_name="portals")
    slug = models.SlugField(max_length=63, unique=True)
    name = models.CharField(max_length=200)
    active = models.BooleanField(default=True)
    is_default = models.BooleanField(default=False)
    theme = models.JSONField(default=_default_theme)
    admitted_roles = models.JSONField(default=_default_admitted_roles)
    signup_policy = models.CharField(max_length=16, choices=SignupPolicy.choices, default=SignupPolicy.INVITE)
    mfa_required = models.BooleanField(default=False)
    features = models.JSONField(default=dict)

    class Meta:
        default_permissions = ()
        indexes: ClassVar = [models.Index(fields=["tenant", "created_at"], name="identity_portal_tenant_idx")]
        constraints: ClassVar = [
            models.UniqueConstraint(
                fields=["tenant"], condition=Q(is_default=True), name="identity_portal_one_default_per_tenant"
            )
        ]

    def __str__(self) -> str:
        return self.slug


class Permission(models.Model):
    """The permission catalogue: `app.verb_noun` codes declared in each app's permissions.py."""

    code = models.CharField(max_length=100, primary_key=True)
    description = models.CharField(max_length=200, blank=True)

    class Meta:
        default_permissions = ()

    def __str__(self) -> str:
        return self.code


class RoleManager(models.Manager["Role"]):
    """System roles plus the current tenant's custom roles; raises without a tenant context."""

    def get_queryset(self) -> models.QuerySet[Role]:
        qs = super().get_queryset()
        tenant = current_tenant()
        if tenant is None:
            if is_unscoped():
                return qs
            require_tenant()
        assert tenant is not None
        return qs.filter(Q(tenant__isnull=True) | Q(tenant_id=tenant.id))


class Role(BaseModel):
    """A named set of permission codes: a system role (no tenant) or a tenant's custom role."""

    tenant = models.ForeignKey(Tenant, on_delete=models.CASCADE, null=True, blank=True, related_name="+")
    code = models.SlugField(max_length=50)
    name = models.CharField(max_length=100)
    permissions = models.JSONField(default=list)

    objects = RoleManager()
    all_roles = models.Manager()

    class Meta:
        default_permissions = ()
        base_manager_name = "all_roles"
        constraints: ClassVar = [
            models.UniqueConstraint(fields=["tenant", "code"], name="identity_role_tenant_code_unique"),
            models.UniqueConstraint(
                fields=["code"], condition=Q(tenant__isnull=True), name="identity_role_system_code_unique"
            ),
            models.CheckConstraint(
                condition=Q(tenant__isnull=True) | ~Q(code__in=SYSTEM_ROLE_CODES),
                name="identity_role_custom_code_not_reserved",
            ),
        ]

    @property
    def system(self) -> bool:
        return self.tenant_id is None

    def __str__(self) -> str:
        return self.code


class Membership(TenantScopedModel):
    """A user's place in a tenant: one per (user, tenant), with one role."""

    class Status(models.TextChoices):
        ACTIVE = "active"
        SUSPENDED = "suspended"

    user = models.ForeignKey(User, on_delete=models.CASCADE, related_name="memberships")
    role = models.ForeignKey(Role, on_delete=models.PROTECT, related_name="+")
    status = models.CharField(max_length=16, choices=Status.choices, default=Status.ACTIVE)

    class Meta(TenantScopedModel.Meta):
        constraints: ClassVar = [
            models.UniqueConstraint(fields=["tenant", "user"], name="identity_membership_tenant_user_unique")
        ]
        indexes: ClassVar = [
            models.Index(fields=["tenant", "created_at", "id"], name="identity_member_tenant_created"),
            models.Index(fields=["user"], name="identity_member_user_idx"),
        ]


class Invitation(TenantScopedModel):
    """An offer to join a tenant with a role. The token is stored only as a hash."""

    class Status(models.TextChoices):
        PENDING = "pending"
        ACCEPTED = "accepted"
        REVOKED = "revoked"

    email = models.EmailField(max_length=254)
    # Deleting a custom role keeps the invitations that once offered it: the code stays on record.
    role = models.ForeignKey(Role, on_delete=models.SET_NULL, null=True, related_name="+")
    role_code = models.SlugField(max_length=50, default="")
    invited_by = models.ForeignKey(User, on_delete=models.SET_NULL, null=True, related_name="+")
    status = models.CharField(max_length=16, choices=Status.choices, default=Status.PENDING)
    expires_at = models.DateTimeField()
    accepted_at = models.DateTimeField(null=True, blank=True)

    class Meta(TenantScopedModel.Meta):
        indexes: ClassVar = [
            models.Index(fields=["tenant", "created_at", "id"], name="identity_invite_tenant_created"),
            models.Index(fields=["tenant", "status"], name="identity_invite_tenant_status"),
        ]

    def save(self, *args: Any, **kwargs: Any) -> None:
        if self.role is not None and not self.role_code:
            self.role_code = self.role.code
        super().save(*args, **kwargs)


class InvitationToken(models.Model):
    """Global lookup of an invitation by the hash of its token (read before the tenant is known)."""

    token_hash = models.CharField(max_length=64, primary_key=True)
    tenant = models.ForeignKey(Tenant, on_delete=models.CASCADE, related_name="+")
    invitation_id = models.UUIDField(unique=True)
    expires_at = models.DateTimeField()
    used_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        default_permissions = ()

    def __str__(self) -> str:
        return f"invitation token for {self.invitation_id}"


class AuditFields(models.Model):
    """What every audit event records, chained by `prev_hash` → `hash` within its stream."""

    seq = models.PositiveBigIntegerField()
    action = models.CharField(max_length=100)
    actor_id = models.UUIDField(null=True, blank=True)
    actor_email = models.CharField(max_length=254, blank=True)
    target_type = models.CharField(max_length=50, blank=True)
    target_id = models.CharField(max_length=64, blank=True)
    ip = models.GenericIPAddressField(null=True, blank=True)
    data = models.JSONField(default=dict)
    prev_hash = models.CharField(max_length=64)
    hash = models.CharField(max_length=64)

    class Meta:
        abstract = True

    def __str__(self) -> str:
        return f"#{self.seq} {self.action}"


class AuditEvent(TenantScopedModel, AuditFields):
    """A tenant's audit trail, hash-chained per tenant."""

    class Meta(TenantScopedModel.Meta):
        constraints: ClassVar = [
            models.UniqueConstraint(fields=["tenant", "seq"], name="identity_audit_tenant_seq_unique")
        ]
        indexes: ClassVar = [
            models.Index(fields=["tenant", "-created_at", "-seq"], name="identity_audit_tenant_newest"),
        ]


class PlatformAuditEvent(BaseModel, AuditFields):
    """Events with no tenant (password reset, verification, user-wide revocation)."""

    class Meta:
        default_permissions = ()
        constraints: ClassVar = [models.UniqueConstraint(fields=["seq"], name="identity_platform_audit_seq_unique")]


class AuditHead(models.Model):
    """Count and last hash of each audit stream, kept apart from the chain.

    A chain alone cannot see its newest rows deleted; the head can. Global: one
    row per stream (`tenant:<id>` or `platform`), holding no tenant content.
    """

    stream = models.CharField(max_length=64, primary_key=True)
    count = models.PositiveBigIntegerField(default=0)
    last_hash = models.CharField(max_length=64, default="")

    class Meta:
        default_permissions = ()

    def __str__(self) -> str:
        return f"{self.stream}: {self.count}"


class AuthSession(BaseModel):
    """One sign-in (a refresh family): its id is the `sid` claim of every access token it mints.

    Global: looked up from a refresh token before any tenant context exists.
    """

    class Kind(models.TextChoices):
        API = "api"
        BROWSER = "browser"

    user = models.ForeignKey(User, on_delete=models.CASCADE, related_name="auth_sessions")
    tenant = models.ForeignKey(Tenant, on_delete=models.CASCADE, related_name="+")
    portal = models.ForeignKey(Portal, on_delete=models.CASCADE, related_name="+")
    kind = models.CharField(max_length=16, choices=Kind.choices, default=Kind.API)
    amr = models.JSONField(default=list)
    ip = models.GenericIPAddressField(null=True, blank=True)
    user_agent = models.CharField(max_length=300, blank=True)
    last_used_at = models.DateTimeField(null=True, blank=True)
    expires_at = models.DateTimeField()
    revoked_at = models.DateTimeField(null=True, blank=True)
    revoke_reason = models.CharField(max_length=50, blank=True)

    class Meta:
        default_permissions = ()
        indexes: ClassVar = [
            models.Index(fields=["user", "revoked_at"], name="identity_session_user_live"),
            models.Index(fields=["tenant", "user"], name="identity_session_tenant_user"),
            models.Index(fields=["portal"], name="identity_session_portal"),
        ]

    def __str__(self) -> str:
        return f"session {self.id} of {self.user_id}"

    @property
    def is_live(self) -> bool:
        from django.utils import timezone

        return self.revoked_at is None and self.expires_at > timezone.now()


class RefreshToken(models.Model):
    """An opaque refresh token, stored only as its SHA-256. Used once: rotation marks it used."""

    token_hash = models.CharField(max_length=64, primary_key=True)
    session = models.ForeignKey(AuthSession, on_delete=models.CASCADE, related_name="refresh_tokens")
    created_at = models.DateTimeField(auto_now_add=True)
    used_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        default_permissions = ()

    def __str__(self) -> str:
        return f"refresh token of {self.session_id}"


class BackupCode(BaseModel):
    """One MFA recovery code, stored only as a keyed hash; works once (`used_at` set by a conditional update).

    Global: it belongs to a user, like their TOTP device (docs/architecture.md, "Global and tenant tables").
    The plain codes are shown once, when generated, and never stored.
    """

    user = models.ForeignKey(User, on_delete=models.CASCADE, related_name="mfa_backup_codes")
    code_hash = models.CharField(max_length=64)
    used_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        default_permissions = ()
        constraints: ClassVar = [
            models.UniqueConstraint(fields=["user", "code_hash"], name="identity_backupcode_user_hash_unique")
        ]

    def __str__(self) -> str:
        return f"backup code of {self.user_id}"


class PendingSignup(BaseModel):
    """A password chosen at sign-up, waiting for proof of the mailbox.

    A self-registered account holds no usable password of its own until its
    address is verified: the password waits here, so an account registered for
    someone else's address can never sign in, and anything that later proves
    the address (an invitation, `create_tenant`, a reset) finds nothing of the
    registrant's to hand over. `user` is the account the sign-up made; a
    sign-up for an address that already had an account leaves a row with no
    user, so that signing in with what was typed answers exactly as for a new
    account (403 `email_unverified`) and register-then-login reveals nothing.

    Global: looked up by address at sign-in, before any tenant is known.
    """

    email = models.CharField(max_length=254)
    user = models.ForeignKey(User, null=True, blank=True, on_delete=models.CASCADE, related_name="pending_signups")
    password = models.CharField(max_length=256)
    expires_at = models.DateTimeField()

    class Meta:
        default_permissions = ()
        indexes: ClassVar = [
            models.Index(Upper("email"), name="identity_pendingsignup_email"),
            models.Index(fields=["expires_at"], name="identity_pendingsignup_expiry"),  # the daily purge
        ]

    def __str__(self) -> str:
        return f"pending sign-up {self.id}"


class ApiKey(TenantScopedModel):
    """A tenant's API key: acts with one role of the tenant, never more than its creator holds.

    The key is `atr_<prefix>_<secret>`; only SHA-256 of it is stored (`secret_hash`), and the
    full key is shown once, when created (docs/adr/0015-api-keys-in-identity.md).
    """

    name = models.CharField(max_length=100)
    # A code, as a token carries it: a deleted custom role leaves a key that holds nothing.
    role_code = models.SlugField(max_length=50)
    created_by = models.ForeignKey(User, on_delete=models.CASCADE, related_name="+")
    prefix = models.CharField(max_length=16, unique=True)
    secret_hash = models.CharField(max_length=64)
    expires_at = models.DateTimeField(null=True, blank=True)
    revoked_at = models.DateTimeField(null=True, blank=True)
    last_used_at = models.DateTimeField(null=True, blank=True)
    last_used_ip = models.GenericIPAddressField(null=True, blank=True)

    class Meta(TenantScopedModel.Meta):
        indexes: ClassVar = [
            models.Index(fields=["tenant", "-created_at", "-id"], name="identity_apikey_tenant_newest"),
        ]

    def __str__(self) -> str:
        return f"API key {self.prefix}"


class ApiKeyPrefix(models.Model):
    """Global lookup of an API key's tenant by its public prefix: read before the tenant is known.

    Holds no secret: the hash stays in the tenant's `ApiKey` row, behind row-level security.
    """

    prefix = models.CharField(max_length=16, primary_key=True)
    tenant = models.ForeignKey(Tenant, on_delete=models.CASCADE, related_name="+")
    api_key_id = models.UUIDField(unique=True)

    class Meta:
        default_permissions = ()

    def __str__(self) -> str:
        return f"API key prefix {self.prefix}"
