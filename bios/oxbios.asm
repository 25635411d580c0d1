; oxbios: oxbox's own PC BIOS.
;
; A 64 KiB image at F0000-FFFFF (and aliased below 4 GiB), entered from the
; reset vector. It talks to the machine only through ports and memory, as
; a PC/AT BIOS does: POST sets up the interrupt vectors, the BIOS data
; areas, the interrupt controllers, timer, RTC and keyboard controller,
; finds RAM (from CMOS), the IDE drives (IDENTIFY), the diskette drives
; (CMOS 10h) and the PCI functions,
; runs option ROMs, then boots through INT 19h in the order CMOS 0x3D/0x38
; give (the Bochs/QEMU convention).
;
; Needs a 386 or later (32-bit registers for LBAs, E820 and PCI).
;
; Services: see the per-service files in oxbios/. References: IBM PC/AT
; Technical Reference (BIOS listing interfaces and BDA); Ralf Brown's
; Interrupt List (register interfaces); Phoenix "BIOS Enhanced Disk Drive
; Specification" 3.0 (INT 13h 41h-48h); PCI BIOS Specification 2.1;
; VESA BIOS Extension 2.0; ACPI 1.0 §14 (E820).

bits 16
cpu 386
org 0

%include "oxbios/defs.inc"

; ----------------------------------------------------------------------------
; POST
; ----------------------------------------------------------------------------
post:
    cli
    cld
    POST_CODE 0x01
    ; A 386 or later? FLAGS bits 12-15 read as 1s on the 8086/186 and
    ; can't be set in real mode on the 286; on the 386 bit 14 (NT) can.
    ; Only 8086 instructions until this passes.
    pushf
    pop ax
    or ax, 0x4000
    and ax, 0x4FFF
    push ax
    popf
    pushf
    pop ax
    and ax, 0xF000
    cmp ax, 0x4000
    je .is_386
    mov si, msg_needs_386
.needs_386:
    cs lodsb
    test al, al
    jz .stop
    out DEBUGCON, al
    jmp .needs_386
.stop:
    hlt
    jmp .stop
.is_386:
    ; The probe left NT set: clear FLAGS again, or the first IRET a boot
    ; loader executes in protected mode would try a task return through
    ; its TSS's back link (SDM vol. 3 §7.3, "Task linking").
    push word 0x0002
    popf
    ; A CPU reset with CMOS shutdown code 5 or 0Ah is a return from
    ; protected mode through the far pointer at 40:67 (AT BIOS convention).
    mov al, CMOS_SHUTDOWN
    call cmos_read
    mov bl, al
    mov al, CMOS_SHUTDOWN
    xor ah, ah
    call cmos_write
    cmp bl, 0x05
    je .resume_eoi
    cmp bl, 0x0A
    je .resume
    jmp .cold
.resume_eoi:
    mov al, 0x20
    out 0xA0, al
    out 0x20, al
.resume:
    mov ax, BDA_SEG
    mov ds, ax
    jmp far [BDA_RESETPTR]

.cold:
    xor ax, ax
    mov ss, ax
    mov sp, 0x7C00
    ; Clear the IVT, the BDA and the area below the boot sector.
    mov es, ax
    xor di, di
    mov cx, 0x7C00 / 2
    rep stosw
    POST_CODE 0x02
    call shadow_bios

    ; IVT: every vector a harmless IRET, the hardware IRQs an EOI, then
    ; the BIOS's services.
    xor di, di
    mov cx, 256
    mov ax, default_int
    call set_vectors
    mov di, 0x08 * 4
    mov cx, 8
    mov ax, default_irq_master
    call set_vectors
    mov di, 0x70 * 4
    mov cx, 8
    mov ax, default_irq_slave
    call set_vectors
    mov si, vector_table
.ivt_services:
    cs lodsb
    cmp al, 0xFF
    je .ivt_done
    movzx di, al
    shl di, 2
    cs lodsw
    mov [es:di], ax
    jmp .ivt_services
.ivt_done:
    ; INT 1Dh (video parameters) points at nothing; INT 1Fh at the upper
    ; half of the 8x8 font (characters 80h-FFh in CGA graphics modes);
    ; INT 60h-67h are for users.
    mov dword [es:0x1D * 4], 0
    mov word [es:0x1F * 4], font8x8 + 128 * 8
    mov word [es:0x1F * 4 + 2], BIOS_SEG
    mov di, 0x60 * 4
    mov cx, 8
    xor eax, eax
    rep stosd
    POST_CODE 0x03

    ; BIOS data area and EBDA.
    mov ax, BDA_SEG
    mov ds, ax
    mov al, CMOS_BASEMEM
    call cmos_read16
    cmp ax, 640
    jbe .basemem_ok
    mov ax, 640
.basemem_ok:
    sub ax, EBDA_KB
    mov [BDA_MEMKB], ax
    shl ax, 6
    mov [BDA_EBDA], ax
    mov es, ax
    xor di, di
    mov cx, EBDA_KB * 1024 / 2
    xor ax, ax
    rep stosw
    mov byte [es:EB_SIZE], EBDA_KB
    mov word [BDA_KBHEAD], BDA_KBBUF
    mov word [BDA_KBTAIL], BDA_KBBUF
    mov word [BDA_KBSTART], BDA_KBBUF
    mov word [BDA_KBEND], BDA_KBBUF + 32
    mov byte [BDA_KBSTAT3], 0x10        ; a 101/102-key keyboard
    ; Equipment: an 80x25 colour display (bits 5-4 = 10), a math
    ; coprocessor if CMOS 0x14 says so; serial ports added below.
    mov al, 0x14
    call cmos_read
    and ax, 0x0002
    or ax, 0x0020
    mov [BDA_EQUIP], ax
    mov al, CMOS_OXFLAGS
    call cmos_read
    and al, FLAG_SERCON
    mov [es:EB_FLAGS], al
    mov byte [es:EB_CDDEV], 0xFF
    POST_CODE 0x04

    call init_pic
    call init_pit
    call init_rtc
    POST_CODE 0x05
    call init_kbc
    POST_CODE 0x06
    call detect_serial
    call detect_ram
    POST_CODE 0x07
    call pci_init
    POST_CODE 0x08
    call rom_scan
    POST_CODE 0x09
    ; Text mode 03h through whichever INT 10h is now installed (a VGA
    ; option ROM expects the system BIOS to set the first mode).
    call video_post
    POST_CODE 0x0A
    call ata_detect
    call floppy_post
    POST_CODE 0x0B
    call post_screen
    POST_CODE 0x0C
    sti
    int 0x19
    ; INT 19h does not return.
    jmp $

; Copy the BIOS into the shadow RAM under it and run from there, write
; protected: PAM0 bits 5-4 (F0000-FFFFF) = 10b reads the ROM and writes
; the RAM, so copying the segment onto itself fills the RAM; then 01b
; reads the RAM and sends writes to the bus (82441FX datasheet §3.2.18).
; RAM is faster to fetch from than the ROM's bus cycles.
shadow_bios:
    push ds
    push es
    xor bx, bx                  ; 00:00.0, the host bridge
    mov di, 0x59
    call pci_read8
    and al, 0x0F
    or al, 0x20
    call pci_write8
    mov ax, BIOS_SEG
    mov ds, ax
    mov es, ax
    xor si, si
    xor di, di
    mov cx, 0x8000
    rep movsw
    mov di, 0x59
    call pci_read8
    and al, 0x0F
    or al, 0x10
    call pci_write8
    pop es
    pop ds
    ret

; Point CX vectors from ES:DI on at BIOS_SEG:AX.
set_vectors:
    mov [es:di], ax
    mov word [es:di+2], BIOS_SEG
    add di, 4
    loop set_vectors
    ret

msg_needs_386: db "oxbios needs a 386 or later CPU (use --bios roms/selftest.bin on older models)", 10, 0

; Install table: vector number, handler offset; 0xFF ends it.
vector_table:
    db 0x08
    dw irq0_timer
    db 0x09
    dw irq1_keyboard
    db 0x0E
    dw irq6_floppy
    db 0x10
    dw int10_video
    db 0x11
    dw int11_equipment
    db 0x12
    dw int12_memory
    db 0x13
    dw int13_disk
    db 0x14
    dw int14_serial
    db 0x15
    dw int15_system
    db 0x16
    dw int16_keyboard
    db 0x17
    dw int17_printer
    db 0x18
    dw int18_no_boot
    db 0x19
    dw int19_boot
    db 0x1A
    dw int1a_time
    db 0x1C
    dw default_int
    db 0x70
    dw irq8_rtc
    db 0x76
    dw irq14_ide
    db 0x77
    dw irq15_ide
    db 0xFF

; ----------------------------------------------------------------------------
; Chip initialisation
; ----------------------------------------------------------------------------

; 8259A pair: edge triggered, cascaded on IR2, vector bases 08h and 70h
; (8259A datasheet, ICW1-ICW4). IRQ 0, 1, 2, 6 unmasked on the master; IRQ 8,
; 14 and 15 on the slave.
init_pic:
    mov al, 0x11
    out 0x20, al
    out 0xA0, al
    mov al, 0x08
    out 0x21, al
    mov al, 0x70
    out 0xA1, al
    mov al, 0x04
    out 0x21, al
    mov al, 0x02
    out 0xA1, al
    mov al, 0x01
    out 0x21, al
    out 0xA1, al
    mov al, 0xB8
    out 0x21, al
    mov al, 0x3E
    out 0xA1, al
    ret

; 8254 counter 0: mode 3 (square wave), count 65536 -> 18.2065 Hz.
init_pit:
    mov al, 0x36
    out 0x43, al
    xor al, al
    out 0x40, al
    out 0x40, al
    ret

; MC146818: 32.768 kHz time base, 1024 Hz periodic rate (register A = 26h),
; 24-hour BCD with no interrupts enabled (register B = 02h); reading C and
; D clears the flags and the valid-RAM bit.
init_rtc:
    mov ax, 0x260A
    call cmos_write_ah
    mov ax, 0x020B
    call cmos_write_ah
    mov al, 0x0C
    call cmos_read
    mov al, 0x0D
    call cmos_read
    ret

; Write AH to CMOS register AL.
cmos_write_ah:
cmos_write:
    out 0x70, al
    mov al, ah
    out 0x71, al
    ret

; AL = CMOS register AL.
cmos_read:
    out 0x70, al
    in al, 0x71
    ret

; AX = little-endian CMOS word at AL.
cmos_read16:
    push bx
    mov bl, al
    inc al
    call cmos_read
    mov ah, al
    mov al, bl
    call cmos_read
    pop bx
    ret

; 8042: controller self-test (AAh -> 55h), then the command byte:
; keyboard interrupt on, system flag, mouse off, set-1 translation on.
init_kbc:
    call kbc_flush
    mov al, 0xAA
    call kbc_command
    call kbc_read
    mov al, 0x60
    call kbc_command
    mov al, 0x65
    call kbc_data
    ; Reset the keyboard (ACK FAh, then AAh when its self-test passes) and
    ; enable scanning.
    mov al, 0xFF
    call kbc_data
    call kbc_read
    call kbc_read
    mov al, 0xF4
    call kbc_data
    call kbc_read
    call kbc_flush
    ret

kbc_wait_input:
    push cx
    mov cx, 0xFFFF
.w:
    in al, 0x64
    test al, 2
    jz .done
    loop .w
.done:
    pop cx
    ret

kbc_command:
    push ax
    call kbc_wait_input
    pop ax
    out 0x64, al
    ret

kbc_data:
    push ax
    call kbc_wait_input
    pop ax
    out 0x60, al
    ret

; AL = the next output byte, or CF set after a timeout.
kbc_read:
    push cx
    mov cx, 0xFFFF
.w:
    in al, 0x64
    test al, 1
    jnz .got
    loop .w
    pop cx
    stc
    ret
.got:
    in al, 0x60
    pop cx
    clc
    ret

kbc_flush:
    push cx
    mov cx, 16
.f:
    in al, 0x64
    test al, 1
    jz .done
    in al, 0x60
    loop .f
.done:
    pop cx
    ret

; COM1-COM4: a port is present when its scratch register holds a value.
detect_serial:
    push ds
    mov ax, BDA_SEG
    mov ds, ax
    mov si, com_ports
    xor bx, bx
    xor cx, cx
.next:
    cs lodsw
    test ax, ax
    jz .done
    mov dx, ax
    add dx, 7
    mov al, 0x5A
    out dx, al
    in al, dx
    cmp al, 0x5A
    jne .next
    sub dx, 7
    mov [bx + BDA_COM], dx
    add bx, 2
    inc cx
    jmp .next
.done:
    shl cx, 9
    or [BDA_EQUIP], cx
    ; COM1 at 115200 baud, 8N1 (divisor 1), for the serial console.
    mov dx, [BDA_COM]
    test dx, dx
    jz .out
    add dx, 3
    mov al, 0x80
    out dx, al
    sub dx, 3
    mov al, 1
    out dx, al
    inc dx
    xor al, al
    out dx, al
    add dx, 2
    mov al, 0x03
    out dx, al
.out:
    pop ds
    ret

com_ports: dw 0x3F8, 0x2F8, 0x3E8, 0x2E8, 0

; RAM above 1 MiB from CMOS (0x34: 64 KiB blocks above 16 MiB, else 0x30:
; KiB above 1 MiB), and the E820 map built from it.
detect_ram:
    push ds
    push es
    mov ax, BDA_SEG
    mov ds, ax
    mov es, [BDA_EBDA]
    mov al, CMOS_MEM16M
    call cmos_read16
    movzx eax, ax
    test eax, eax
    jz .small
    shl eax, 16
    add eax, 0x1000000
    jmp .have
.small:
    mov al, CMOS_EXTMEM
    call cmos_read16
    movzx eax, ax
    shl eax, 10
    add eax, 0x100000
.have:
    mov [es:EB_RAMTOP], eax
    ; The map: base memory, the EBDA, the BIOS ROM, extended memory, and
    ; the ROM's alias at the top of the address space.
    mov di, EB_E820
    xor ebx, ebx
    movzx ecx, word [BDA_MEMKB]
    shl ecx, 10
    mov edx, 1
    call e820_add
    mov ebx, ecx
    mov ecx, EBDA_KB * 1024
    mov edx, 2
    call e820_add
    mov ebx, 0xF0000
    mov ecx, 0x10000
    call e820_add
    mov ebx, 0x100000
    mov ecx, [es:EB_RAMTOP]
    sub ecx, ebx
    mov edx, 1
    call e820_add
    mov ebx, 0xFFFF0000
    mov ecx, 0x10000
    mov edx, 2
    call e820_add
    mov ax, di
    sub ax, EB_E820
    mov bl, 20
    div bl
    mov [es:EB_E820N], al
    pop es
    pop ds
    ret

; Append an E820 entry at ES:DI: base EBX, length ECX, type EDX.
e820_add:
    mov [es:di], ebx
    mov dword [es:di+4], 0
    mov [es:di+8], ecx
    mov dword [es:di+12], 0
    mov [es:di+16], edx
    add di, 20
    ret

; ----------------------------------------------------------------------------
; Default handlers
; ----------------------------------------------------------------------------
default_int:
    iret

default_irq_master:
    push ax
    mov al, 0x20
    out 0x20, al
    pop ax
    iret

default_irq_slave:
    push ax
    mov al, 0x20
    out 0xA0, al
    out 0x20, al
    pop ax
    iret

; A service that does not exist: CF set, AH = 86h ("function not
; supported", as Ralf Brown lists for INT 15h and the PCI BIOS). Jumped to
; from inside a frame.
unsupported:
    mov byte [bp+F_AH], 0x86
    SET_CF
    LEAVE_FRAME

; ----------------------------------------------------------------------------
; Messages: BIOS text goes to the screen (INT 10h teletype, which mirrors to
; COM1 when asked) and to the debug console.
; ----------------------------------------------------------------------------

; Print the NUL-terminated string at CS:SI.
print:
    push ax
    push si
.l:
    cs lodsb
    test al, al
    jz .done
    call putc
    jmp .l
.done:
    pop si
    pop ax
    ret

; Print AL.
putc:
    push ax
    push bx
    out DEBUGCON, al
    cmp al, 10
    jne .plain
    mov ax, 0x0E0D
    mov bx, 0x0007              ; page 0; light grey in graphics modes
    int 0x10
    mov al, 10
.plain:
    mov ah, 0x0E
    mov bx, 0x0007
    int 0x10
    pop bx
    pop ax
    ret

; Print EAX in decimal.
print_dec:
    push eax
    push ecx
    push edx
    push ebx
    mov ebx, 10
    xor cx, cx
.div:
    xor edx, edx
    div ebx
    push dx
    inc cx
    test eax, eax
    jnz .div
.out:
    pop ax
    add al, '0'
    call putc
    loop .out
    pop ebx
    pop edx
    pop ecx
    pop eax
    ret

%include "oxbios/ata.inc"
%include "oxbios/disk.inc"
%include "oxbios/floppy.inc"
%include "oxbios/cdrom.inc"
%include "oxbios/boot.inc"
%include "oxbios/system.inc"
%include "oxbios/keyboard.inc"
%include "oxbios/pci.inc"
%include "oxbios/video.inc"

; ----------------------------------------------------------------------------
; Fixed locations at the top of the ROM.
; ----------------------------------------------------------------------------
    times 0xFFF0 - ($ - $$) db 0xFF
reset_vector:
    jmp BIOS_SEG:post
bios_date:
    db "11/24/26"
    db 0
    db 0xFC                     ; model byte: AT
    db 0                        ; checksum filler
