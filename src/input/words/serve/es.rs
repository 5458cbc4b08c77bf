//! `serve`'s words in Spanish (usted).

use super::Say::{self, *};

pub(super) fn text(say: Say) -> &'static str {
    match say {
        ProblemTitle => "Algo no va bien",
        NotFoundTitle => "Aquí no hay ninguna página",
        NotFound => "Puede que la dirección esté mal escrita o que la página se haya movido.",
        IssuesSoFar => "Leer los números anteriores",
        EmailLabel => "Correo electrónico",
        NameLabel => "Nombre (opcional)",
        LeaveEmpty => "Deje este campo vacío",
        SubscribeButton => "Suscribirme",
        SignupNote => "Le enviaremos un correo con un enlace para confirmar.",
        TopicsLegend => "¿Qué le gustaría recibir?",
        SubscribeTitle => "Suscribirse",
        ConfirmTitle => "Confirme su suscripción",
        ConfirmDetails => "Revise sus datos y pulse el botón para suscribir {email}.",
        ConfirmButton => "Confirmar",
        InboxTitle => "Revise su bandeja de entrada",
        InboxSent => {
            "Si la dirección es correcta, va de camino un correo con un enlace de \
             confirmación. Ábralo y pulse «Confirmar» para suscribirse."
        }
        InboxNothing => {
            "¿No ha llegado nada en unos minutos? Mire en la carpeta de spam o vuelva a \
             suscribirse."
        }
        SubscribedTitle => "Suscripción confirmada",
        Subscribed => "{email} recibirá el próximo número.",
        AlreadyTitle => "Ya estaba suscrito",
        Already => {
            "Este enlace de confirmación ya se usó: está en la lista y no hace falta nada más."
        }
        StaleTitle => "Este enlace ya no funciona",
        SignUpAgain => "Vuelva a suscribirse abajo para recibir un enlace nuevo.",
        UnsubscribeTitle => "Darse de baja",
        UnsubscribePress => "Pulse el botón para dejar de enviar {name} a {email}.",
        UnsubscribeButton => "Darme de baja",
        UnsubscribedTitle => "Se ha dado de baja",
        Unsubscribed => "{email} no recibirá más correos de {name}.",
        UndoOffer => "¿Lo pulsó por error? Puede deshacerlo durante 24 horas.",
        UndoButton => "Deshacer: seguir suscrito",
        ResubscribedTitle => "Vuelve a estar suscrito",
        Resubscribed => "{email} recibirá el próximo número de {name}, como antes.",
        UndoStaleTitle => "Esto ya no se puede deshacer",
        UndoStale => {
            "La baja tiene más de un día, ya se deshizo o algo ha cambiado desde entonces. \
             Si no recibe el boletín y lo quiere, suscríbase abajo."
        }
        ConfirmInvalid => {
            "Este enlace de confirmación no es válido. Compruebe que se copió entero."
        }
        ConfirmUsed => {
            "Este enlace de confirmación ya se usó, o la dirección ha cambiado desde entonces."
        }
        ConfirmExpired => "Este enlace de confirmación ha caducado.",
        UnsubscribeInvalid => {
            "Este enlace para darse de baja no es válido. Compruebe que se copió entero."
        }
        ListBusy => {
            "Ahora mismo no se puede modificar la lista. Inténtelo de nuevo dentro de un minuto."
        }
        TooManySignups => {
            "Demasiadas suscripciones desde su dirección. Espere un minuto y vuelva a intentarlo."
        }
        TooManyRequests => {
            "Demasiadas solicitudes desde su dirección. Espere un minuto y vuelva a intentarlo."
        }
        NotAnAddress => "Eso no es una dirección de correo. Vuelva atrás y revísela.",
        SignupsBusy => {
            "Demasiadas suscripciones en este momento. Inténtelo de nuevo dentro de un minuto."
        }
        NameTooLong => "El nombre puede tener como máximo 100 caracteres. Vuelva atrás y acórtelo.",
        NameControl => "El nombre no puede contener saltos de línea ni caracteres de control.",
        FormTooBig => "El formulario ocupa más de 64 KB.",
        FormTooSlow => "El formulario tardó demasiado en llegar.",
        FormUnreadable => "No se pudo leer el formulario.",
        FormKind => {
            "Envíe el formulario como application/x-www-form-urlencoded o multipart/form-data."
        }
        MailSubject => "Confirme su suscripción a {name}",
        MailAsked => {
            "Alguien, esperamos que usted, pidió recibir {name} por correo en esta dirección."
        }
        MailPress => "Para empezar a recibirlo, pulse el botón y después «Confirmar».",
        MailOpen => "Para empezar a recibirlo, abra este enlace y pulse «Confirmar»:",
        MailButton => "Confirmar mi suscripción",
        MailOrOpen => "O abra este enlace:",
        MailLasts => {
            "El enlace es válido durante {lasts}. Si no lo pidió, ignore este correo: sin \
             confirmación no quedará suscrito y no recibirá nada más de nosotros."
        }
        OneMinute => "1 minuto",
        Minutes => "{n} minutos",
        OneHour => "1 hora",
        Hours => "{n} horas",
        Days => "{n} días",
        WaysLabel => "Más",
        WaysSubscribe => "Suscribirse",
        WaysArchive => "Todos los números",
        LangLabel => "Idioma",
        IndexAbout => "Todos los números de {name} hasta hoy.",
        IndexFeed => "Seguir el feed",
    }
}
