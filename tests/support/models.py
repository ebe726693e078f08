"""Mapped SQLAlchemy classes for the live-model tests, on tables of their own."""
import datetime
import uuid

import sqlalchemy as sa
from sqlalchemy.orm import DeclarativeBase, Mapped, mapped_column


class Models:
    """Fresh mapped classes on tables with unique names (so runs never collide)."""

    def __init__(self, engine):
        suffix = uuid.uuid4().hex[:10]
        self.suffix = suffix

        class Base(DeclarativeBase):
            pass

        class Order(Base):
            __tablename__ = 'live_orders_%s' % suffix
            id: Mapped[int] = mapped_column(primary_key=True)
            title: Mapped[str] = mapped_column(sa.String(80))
            status: Mapped[str] = mapped_column(sa.String(20), default='new')
            internal_note: Mapped[str] = mapped_column(sa.String(80), default='')
            created_at: Mapped[datetime.datetime] = mapped_column(
                sa.DateTime, server_default=sa.func.current_timestamp())

        class User(Base):
            __tablename__ = 'live_users_%s' % suffix
            id: Mapped[int] = mapped_column(primary_key=True)
            name: Mapped[str] = mapped_column(sa.String(80))
            password_hash: Mapped[str] = mapped_column(sa.String(200))

        self.Base, self.Order, self.User = Base, Order, User
        self.engine = engine
        Base.metadata.create_all(engine)

    def drop(self):
        self.Base.metadata.drop_all(self.engine)
