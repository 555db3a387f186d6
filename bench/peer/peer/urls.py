from django.http import HttpResponse
from django.urls import path
from rest_framework import generics, serializers

from .models import Agreement


class AgreementSerializer(serializers.ModelSerializer):
    class Meta:
        model = Agreement
        fields = "__all__"


class Agreements(generics.ListAPIView):
    queryset = Agreement.objects.all()
    serializer_class = AgreementSerializer


def healthz(request):
    return HttpResponse("ok")


urlpatterns = [
    path("public/v1/agreements", Agreements.as_view()),
    path("healthz", healthz),
]
